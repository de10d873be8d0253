// archiver review: one page, no dependencies. Every text from the archive is set with
// textContent (never as HTML); every write carries the token the page was served with.
"use strict";

const token = document.querySelector('meta[name="review-token"]').content;
let state = JSON.parse(document.getElementById("initial-state").textContent);
let current = null;   // the detail of the URL on screen
let position = -1;    // its place in the queue (-1: opened from search, not queued)
let warned = null;    // a typed URL whose warning was shown once; Enter again saves it
let typedRequest = 0; // answers to older keystrokes are ignored

const $ = (id) => document.getElementById(id);

function make(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function say(text, isError) {
  const status = $("status");
  status.textContent = text;
  status.className = isError ? "error" : "";
}

async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST",
    headers: {"Content-Type": "application/json", "X-Review-Token": token},
    body: JSON.stringify(body),
  };
  const response = await fetch(path, options);
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

function pathOf(url) {
  try {
    const parsed = new URL(url);
    return parsed.pathname + parsed.search;
  } catch (e) {
    return url;
  }
}

function describe(decision) {
  if (!decision) return "";
  const target = decision.decision === "redirect" ? ` → ${decision.new_url}` : "";
  return `decided: ${decision.decision}${target} (${decision.decided_at})`;
}

// the queue ---------------------------------------------------------------------------------
function renderQueue() {
  const counts = state.counts;
  $("counts").textContent = `${counts.flagged} flagged · ${counts.unmatched} unmatched · ` +
    `${counts.fallback} fallbacks · ${counts.reviewed} reviewed`;
  $("progress-bar").max = state.total;
  $("progress-bar").value = state.decided;
  $("progress-text").textContent = `${state.decided} of ${state.total} decided`;
  const list = $("queue-list");
  list.replaceChildren();
  state.items.forEach((item, i) => {
    const entry = make("li", `group-${item.group}` + (item.decision ? " decided" : "") + (i === position ? " current" : ""));
    entry.append(make("span", "title", item.title || pathOf(item.old_url)));
    if (item.title) entry.append(make("span", "path", pathOf(item.old_url)));
    if (item.decision) entry.append(make("span", "badge", item.decision.decision));
    entry.dataset.url = item.old_url;
    entry.addEventListener("click", () => openAt(i));
    list.append(entry);
  });
}

function nextUndecided(from) {
  const n = state.items.length;
  for (let step = 1; step <= n; step++) {
    const i = (from + step + n) % n;
    if (!state.items[i].decision) return i;
  }
  return -1;
}

async function openAt(i) {
  if (i < 0 || i >= state.items.length) return;
  position = i;
  await openUrl(state.items[i].old_url);
}

async function openUrl(url) {
  position = state.items.findIndex((item) => item.old_url === url);
  current = await api(`/api/item?url=${encodeURIComponent(url)}`);
  hideTyped();
  renderQueue();
  renderCurrent();
}

// the page on screen -------------------------------------------------------------------------
function renderCurrent() {
  const old = current.old;
  $("old-group").textContent = current.group || "not queued";
  $("old-url").textContent = current.old_url;
  $("old-title").textContent = old.title || "(no title)";
  $("old-date").textContent = old.date ? `dated ${old.date}` : "no date found";
  $("old-status").textContent = old.captured ? `archived answer ${old.status}` : "not in the archive";
  const row = current.row;
  $("row-info").textContent = `mapping: ${row.kind} by ${row.method}, confidence ${row.confidence}` +
    (row.new_url ? ` → ${row.new_url}` : "") + (row.evidence ? ` — ${row.evidence}` : "");
  $("decision-info").textContent = describe(current.decision);
  $("old-render").src = `/render?url=${encodeURIComponent(current.old_url)}`;
  $("old-text").textContent = old.text || "(no main text extracted)";
  const list = $("choice-list");
  list.replaceChildren();
  current.choices.forEach((choice, i) => {
    const entry = make("li", "choice");
    const head = make("div", "choice-head");
    head.append(make("kbd", null, i + 1), make("span", "title", choice.title || "(no title)"));
    head.append(make("span", "score", `score ${Number(choice.score).toFixed(2)}`));
    entry.append(head);
    entry.append(make("p", "url", choice.new_url));
    entry.append(make("p", "meta", `${choice.source}: ${choice.reasons}` + (choice.date ? ` · dated ${choice.date}` : "") +
      (!choice.captured ? " · not in the new site's capture" :
        (choice.status >= 200 && choice.status < 300 ? "" : ` · the new site answered ${choice.status}`))));
    entry.append(make("div", "text", choice.text || "(no main text)"));
    entry.addEventListener("click", () => accept(i));
    list.append(entry);
  });
  $("no-choices").hidden = current.choices.length > 0;
}

// deciding ------------------------------------------------------------------------------------
async function decide(decision, newUrl) {
  if (!current) return;
  try {
    const made = await api("/api/decide", {old_url: current.old_url, decision: decision, new_url: newUrl || null,
                                           note: $("note").value});
    $("note").value = "";
    state = await api("/api/state");
    const next = nextUndecided(position >= 0 ? position : -1);
    if (next >= 0) await openAt(next);
    else await openUrl(current.old_url);
    say(`saved: ${made.old_url} ${describe(made.decision)}`);  // last: the page is ready for the next key
  } catch (error) {
    say(error.message, true);
  }
}

function accept(i) {
  if (!current || i >= current.choices.length) return say(`there is no candidate ${i + 1}`, true);
  return decide("redirect", current.choices[i].new_url);
}

async function undo() {
  try {
    const undone = await api("/api/undo", {});
    state = await api("/api/state");
    await openUrl(undone.old_url);
    say(`undone: ${undone.old_url}` + (undone.decision ? ` is back to ${describe(undone.decision)}` : " is undecided again"));
  } catch (error) {
    say(error.message, true);
  }
}

// a typed target -------------------------------------------------------------------------------
function showTyped() {
  $("typed-form").hidden = false;
  $("typed-url").value = "";
  $("typed-check").textContent = "";
  $("suggestions").replaceChildren();
  warned = null;
  $("typed-url").focus();
}

function hideTyped() {
  $("typed-form").hidden = true;
  warned = null;
}

async function suggest() {
  const text = $("typed-url").value;
  const asked = ++typedRequest;
  const answer = await api(`/api/suggest?q=${encodeURIComponent(text)}`);
  if (asked !== typedRequest) return;
  const check = answer.check;
  $("typed-check").textContent = check.ok ? (check.warning || "captured on the new site") : check.problem;
  $("typed-check").className = check.ok ? (check.warning ? "warning" : "ok") : "error";
  const list = $("suggestions");
  list.replaceChildren();
  answer.suggestions.forEach((found) => {
    const entry = make("li", null);
    entry.append(make("span", "url", found.url), make("span", "title", found.title));
    entry.addEventListener("mousedown", (event) => {
      event.preventDefault();
      $("typed-url").value = found.url;
      suggest();
    });
    list.append(entry);
  });
  return check;
}

async function submitTyped(event) {
  event.preventDefault();
  const url = $("typed-url").value.trim();
  if (!url) return;
  const check = await suggest();
  if (!check.ok) return say(check.problem, true);
  if (check.warning && warned !== url) {
    warned = url;
    return say(`${check.warning}: press Enter again to save it anyway`, true);
  }
  hideTyped();
  await decide("redirect", url);
}

// search ---------------------------------------------------------------------------------------
async function search() {
  const text = $("search").value;
  const results = $("search-results");
  results.replaceChildren();
  results.hidden = !text.trim();
  if (!text.trim()) return;
  const found = await api(`/api/search?q=${encodeURIComponent(text)}`);
  if (text !== $("search").value) return;
  if (!found.length) results.append(make("li", "none", "nothing found"));
  found.forEach((item) => {
    const entry = make("li", item.decision ? "decided" : "");
    entry.append(make("span", "title", item.title || pathOf(item.old_url)), make("span", "path", item.old_url));
    entry.addEventListener("click", () => {
      $("search").value = "";
      results.hidden = true;
      openUrl(item.old_url);
    });
    results.append(entry);
  });
}

// keys -----------------------------------------------------------------------------------------
const KEYS = {
  "1": () => accept(0), "2": () => accept(1), "3": () => accept(2),
  "u": showTyped, "g": () => decide("gone"), "n": () => decide("unmatched"), "i": () => decide("ignore"),
  "z": undo,
  "j": () => openAt(Math.min(position + 1, state.items.length - 1)), "ArrowDown": () => openAt(Math.min(position + 1, state.items.length - 1)),
  "k": () => openAt(Math.max(position - 1, 0)), "ArrowUp": () => openAt(Math.max(position - 1, 0)),
  "/": () => $("search").focus(),
};

document.addEventListener("keydown", (event) => {
  if (event.target.tagName === "INPUT") {
    if (event.key === "Escape") {
      event.target.blur();
      hideTyped();
    }
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const action = KEYS[event.key];
  if (action) {
    event.preventDefault();
    action();
  }
});

document.querySelectorAll("#actions button").forEach((button) => {
  button.addEventListener("click", () => KEYS[button.dataset.key]());
});
$("typed-url").addEventListener("input", suggest);
$("typed-form").addEventListener("submit", submitTyped);
$("search").addEventListener("input", search);

renderQueue();
if (state.items.length) {
  const first = nextUndecided(-1);
  openAt(first >= 0 ? first : 0);
} else {
  say("Nothing to review: no row is flagged, unmatched or a fallback.");
}

"""``archiver review OUT/<name>``: a local web page where a person decides the uncertain rows."""
from __future__ import annotations

import signal

from archiver.errors import UsageError
from archiver.review import ReviewSession
from archiver.review.server import ReviewServer, is_loopback


def add_parser(sub) -> None:
    p = sub.add_parser("review", help="review uncertain redirect rows in a local web page (decisions kept by later runs)",
                       description="Serve a page on 127.0.0.1 where a person decides the flagged, unmatched and "
                                   "fallback rows of a job's latest run (or of RUN_DIR). Every decision is written at "
                                   "once to the job's decisions file, which `archiver run` applies from then on.",
                       epilog="keys: 1/2/3 accept a candidate, u type a URL, g gone (410), n leave unmatched, "
                              "i ignore, z undo, j/k next/previous, / search. Exit status 4: someone else is "
                              "reviewing the same decisions file.")
    p.add_argument("path", metavar="OUT/<name>|RUN_DIR", help="a job directory (its latest run) or one run directory")
    p.add_argument("--decisions", metavar="FILE", help="the decisions file (default: the one the run used, "
                                                       "[mapping] decisions or <manifest dir>/<name>.decisions.csv)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; anything else "
                                                       "exposes the page to the network)")
    p.add_argument("--port", type=int, default=0, help="port (default: a free one)")


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def run(args) -> int:
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port: expected 0..65535, got {args.port}")
    with ReviewSession.open(args.path, decisions=args.decisions) as session:
        server = ReviewServer(session, host=args.host, port=args.port)
        state = session.state()
        print(f"reviewing {session.run_dir}: {state['total']} rows queued, {state['decided']} decided; "
              f"decisions go to {session.store.path}")
        if not is_loopback(args.host):
            print(f"WARNING: listening on {args.host}: anyone who can reach this address can read the archive "
                  "and, with the page open, make decisions. Use it on a trusted network only.")
        print(f"open {server.url}  (Ctrl-C to stop)", flush=True)
        signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it as Ctrl-C does: the lock is released
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.socket.close()
    print(f"review stopped; every decision is saved in {session.store.path}")
    return 0

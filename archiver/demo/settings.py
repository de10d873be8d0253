"""The ``[demo]`` table of a job manifest: the demo's own settings.

A manifest with this table runs on the embedded, generated sites instead of
the live web (see ``archiver.demo``); the job manifest reads the table with
this class and imports it only when the table is there.
"""
from __future__ import annotations

from dataclasses import dataclass

from archiver.settings import setting


@dataclass(frozen=True)
class DemoSettings:
    embedded: bool = setting(False, kind="bool")  # serve the generated sites on loopback
    articles: int = setting(60, kind="positive_int")  # generated articles on the legacy site
    seed: int = setting(1, kind="int")  # random seed of the generated content
    sites: int = setting(1, kind="positive_int")  # legacy sites: more than one makes the job a programme

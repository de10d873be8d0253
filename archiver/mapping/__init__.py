"""Mapping: old URL -> page-level new URL, fallback, 410 or unmatched (see ``build.py``).

    rows = build_manifest(notices, iter_captures(old), iter_captures(new))
"""
from archiver.mapping.build import KINDS, build_manifest, explicit_targets, map_to_portal, parse_rule
from archiver.mapping.content import ContentMatcher, Match, Thresholds
from archiver.mapping.decisions import Decisions, load_decisions
from archiver.mapping.files import MapResult, map_paths
from archiver.mapping.portal import PortalIndex

__all__ = ["build_manifest", "map_to_portal", "PortalIndex", "map_paths", "MapResult", "KINDS", "explicit_targets", "ContentMatcher", "Match", "parse_rule",
           "Thresholds", "Decisions", "load_decisions"]

"""Scheduled jobs: a manifest's whole pipeline, locked, with history (see ``run.py``).

``run.run_job`` runs a job once; ``manifest.py`` reads the manifest,
``tasks.py`` holds the tasks it runs, ``graph.py`` their order, ``layout.py``
where a run keeps what, ``history.py`` the runs of a job, ``lock.py`` its lock,
``diff.py`` the changes between runs, ``originals.py`` the earlier runs' files a
re-crawl's revisits need. This package imports none of them here, so a stage
that needs one of them (the audit reads ``history.py``) does not load every stage.
"""

"""WACZ: a crawl packed as one file that ReplayWeb.page opens in a browser.

::

    from archiver.wacz import write_wacz
    result = write_wacz("output/mnz")        # -> output/mnz/archive.wacz (WACZ 1.1.1)

``archiver crawl --wacz`` (or ``[crawl] wacz = true``) packs each crawl when
it finishes, ``archiver run`` each crawl of a job, ``archiver wacz DIR`` an
existing crawl directory.

Why not py-wacz (the ``wacz`` package) as the library: it is the reference
*validator* and the tests run ``wacz validate`` on every package written here,
but as a writer it does not fit. Its ``create`` is a command-line function
(an argparse namespace in, progress printed to stdout) writing straight to
the final name, so a crash leaves half a file; importing it appends
``warcinfo`` to cdxj-indexer's record types for the whole process, which would
change the crawler's own ``index.cdxj``; it indexes with its own rules, so
server-not-modified revisits would replay as empty 304s (see
``capture/cdxj.py``); its page text comes from boilerpy3, not from the
``extract`` module the rest of the pipeline uses; and it pulls in
frictionless with pydantic, typer, petl and about twenty more packages.
What a WACZ needs is a zip of known members, a datapackage of hashes and the
compressed index, which the standard library and cdxj-indexer (already a
dependency) write directly.
"""
from archiver.wacz.package import WACZ_NAME, WaczResult, crawl_warcs, write_wacz

__all__ = ["WACZ_NAME", "WaczResult", "crawl_warcs", "write_wacz"]

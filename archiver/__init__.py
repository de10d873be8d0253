"""archiver: retire websites.

Capture a site to standards-valid WARC files, detect which pages moved, map
every old URL to its new equivalent (exported for nginx, Apache, Netlify and
Cloudflare), and audit any WARC collection for completeness.
"""

__version__ = "0.1.0"

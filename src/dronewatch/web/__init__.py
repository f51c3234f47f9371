"""The live map: static assets served by the server (no CDN, no tile server, no build step).

``static/index.html`` is the page, ``static/js/`` its ES modules, ``static/css/`` its styles and
``static/vendor/`` the third-party libraries and basemap data, vendored by
``scripts/vendor_web_assets.sh`` (see ``static/vendor/VERSIONS.txt``).
"""

from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path

__all__ = ["INDEX_HTML", "STATIC_DIR", "static_dir"]


def static_dir() -> Path:
    """The directory of the map's static files, as a real path on disk."""
    resource = files(__name__).joinpath("static")
    # The package is installed as plain files (setuptools package-data), so this context
    # manager returns the directory itself and cleans up nothing.
    with as_file(resource) as path:
        return Path(path)


STATIC_DIR: Path = static_dir()
INDEX_HTML: Path = STATIC_DIR / "index.html"

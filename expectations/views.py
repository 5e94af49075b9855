"""The Data Docs site's page views: GX's own, with their Jinja templates compiled once per
machine instead of once per build.

GX makes a new Jinja environment, and so compiles every template again, on each
`build_data_docs`, which every gate calls. Jinja's file bytecode cache keeps the compiled
templates in a directory of this user's in the temp dir, keyed by template and source (a
GX upgrade recompiles). The site config (`expectations.context`) names these classes;
GX imports this module only when it builds the site.
"""

from __future__ import annotations

from typing import Any

from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView
from jinja2 import FileSystemBytecodeCache


def _bytecode_cache() -> FileSystemBytecodeCache | None:
    try:
        return FileSystemBytecodeCache()
    except (OSError, RuntimeError):  # no usable temp dir: Jinja compiles, as GX does
        return None


COMPILED = _bytecode_cache()


class _CompiledOnce:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.env.bytecode_cache = COMPILED


class PageView(_CompiledOnce, DefaultJinjaPageView):
    """GX's validation and suite pages."""


class IndexPageView(_CompiledOnce, DefaultJinjaIndexPageView):
    """GX's site index."""

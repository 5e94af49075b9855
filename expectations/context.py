"""The run's Great Expectations project: a file context under WORKDIR/gx, Data Docs in
WORKDIR/data-docs, and the data sources the gates validate DataFrames through: Spark for
the lake, pandas for the warehouse's one-row summaries.

The context keeps suites, validation definitions, checkpoints and results on disk, so the
Data Docs of one date list every date run so far. GX's usage statistics stay off: the
pipeline runs where nothing may call out.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

DOCS_SITE = "grouprebate"
VIEWS = "expectations.views"  # the site's page views (GX imports it by name)
SPARK_SOURCE = "spark"
PANDAS_SOURCE = "pandas"


def data_docs_dir(workdir: Path) -> Path:
    return workdir / "data-docs"


@functools.cache
def quality_context(workdir: Path) -> Any:
    """The file context of this work directory, its Data Docs site at WORKDIR/data-docs
    (one per process: every gate of a local run shares it)."""
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="file", project_root_dir=str(workdir))
    if context.variables.config_variables_file_path:
        # The project uses no config variables; with a file named, GX reads and parses it
        # again on every lookup of its own config, hundreds of times per gate.
        context.variables.config_variables_file_path = None
        context.variables.save()
        context = gx.get_context(mode="file", project_root_dir=str(workdir))
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    page = {"module_name": VIEWS, "class_name": "PageView"}
    site = {
        "class_name": "SiteBuilder",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                          "base_directory": str(data_docs_dir(workdir).resolve())},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder", "view": {
            "module_name": VIEWS, "class_name": "IndexPageView"}},
        "site_section_builders": {section: {"view": page}
                                  for section in ("expectations", "validations", "profiling")},
    }
    sites = context.get_config().data_docs_sites or {}
    if sites.get(DOCS_SITE) != site:
        for name in list(sites):
            context.delete_data_docs_site(name)
        context.add_data_docs_site(site_name=DOCS_SITE, site_config=site)
    # persist=False: GX would otherwise cache every batch on the Spark server and never
    # release it, and pay a round trip to do so; a gate reads each small batch a few times.
    source = context.data_sources.all().get(SPARK_SOURCE)
    if source is None or source.persist:
        context.data_sources.add_or_update_spark(SPARK_SOURCE, persist=False)
    if PANDAS_SOURCE not in context.data_sources.all():
        context.data_sources.add_pandas(PANDAS_SOURCE)
    return context

"""Upstream sources: fetch, verify (hash and signature), cache by content, resolve offline.

Public entry points (see docs/sources.md):
  resolve.resolve_sources(package, cache=, mirrors=, offline=) -> {file name: verified path}
  api.default_sources_config() -> (SourceCache, [Mirror])
  api.fetch_sources(matrix, packages, offline=, cache_dir=, mirrors=)
"""

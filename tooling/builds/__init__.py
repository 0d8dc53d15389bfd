"""Binary builds: plan from SRPM headers, build (mock | mock-container | rpmbuild), cache, publish.

See docs/build.md. The entry point is :func:`tooling.builds.pipeline.run_build`.
"""

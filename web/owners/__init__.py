"""The process owners' pages: versions and rollback, upload with validation and dry run, migration of
running dossiers, and the in-browser modeller."""
from web.owners import admin, deploys, draft_versions, modeller, versions

BLUEPRINTS = (admin.bp, deploys.bp, versions.bp, modeller.bp, draft_versions.bp,)

"""The auditors' pages: dossiers' histories, the step-by-step replay, verification and exports."""
from web.audit import views

BLUEPRINTS = (views.bp,)

"""Who is who: login with throttling, server-side sessions, single sign-on, CSRF, security headers and the
French error pages (every other web package relies on it; it relies on none of them)."""
from web.auth import login, sso

BLUEPRINTS = (login.bp, sso.bp,)

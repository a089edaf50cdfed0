"""Authentication and authorization helpers shared by every blueprint."""
from functools import wraps

from flask import abort, g, session

from models import User, db


def current_user() -> User | None:
    """The logged-in user, or None."""
    if "user" not in g:
        user_id = session.get("user_id")
        g.user = db.session.get(User, user_id) if user_id else None
    return g.user


def login_required(view):
    """Refuse anonymous access (401)."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        if current_user() is None:
            abort(401)
        return view(*args, **kwargs)
    return wrapped


def roles_required(*roles):
    """Refuse users whose role is not one of `roles` (403)."""
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            user = current_user()
            if user is None:
                abort(401)
            if user.role not in roles:
                abort(403)
            return view(*args, **kwargs)
        return wrapped
    return decorator

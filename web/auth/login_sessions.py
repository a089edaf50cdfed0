"""Server-side login sessions: the cookie holds a random id; logout, a password change or a
deactivation end them at once, and so does idleness or age past the limit."""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta, timezone

from flask import current_app
from flask_login import LoginManager
from sqlalchemy import bindparam, select, update

from models import LoginSession, User, db

login_manager = LoginManager()
# Written at most this often: a page view does not have to be a database write.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)


def password_stamp(password_hash: str) -> str:
    """A digest of a password hash: a session records it so that a new password ends the session."""
    return hashlib.sha256(password_hash.encode()).hexdigest()


def session_now() -> datetime:
    """Now, for session ages: wall time, not the application clock, so that business time moved ahead
    (a simulation, a test of timers) does not log people out; SESSION_CLOCK sets it in tests."""
    clock = current_app.config.get("SESSION_CLOCK")
    return clock.now() if clock is not None else datetime.now(timezone.utc)


def limits() -> tuple[timedelta, timedelta]:
    """(absolute lifetime, idle limit) of a session, from SESSION_HOURS and SESSION_IDLE_MINUTES."""
    config = current_app.config
    return timedelta(hours=config.get("SESSION_HOURS", 8)), timedelta(minutes=config.get("SESSION_IDLE_MINUTES", 60))


def open_session(user: User) -> str:
    """Record a new login session of `user` and return its random id."""
    now = session_now()
    record = LoginSession(id=secrets.token_urlsafe(32), user_id=user.id, password_stamp=password_stamp(user.password_hash),
                          created_at=now, last_seen_at=now)
    db.session.add(record)
    db.session.commit()
    user.login_session_id = record.id
    return record.id


# Built once (models/kept.py says why): it runs before every page.
SESSION_AND_USER = (select(LoginSession, User).join(User, User.id == LoginSession.user_id)
                    .where(LoginSession.id == bindparam("_session")))


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    """The user of a live login session, or None (unknown, revoked, too old, idle, password changed,
    account deactivated)."""
    # The session and its account in one round trip: this runs before every page.
    found = db.session.execute(SESSION_AND_USER, {"_session": session_id}).first()
    if found is None or found[0].revoked_at is not None:
        return None
    record, user = found
    now = session_now()
    lifetime, idle = limits()
    if (now - record.created_at > lifetime or now - record.last_seen_at > idle or not user.active
            or record.password_stamp != password_stamp(user.password_hash)):
        return None
    if now - record.last_seen_at >= LAST_SEEN_RESOLUTION:
        db.session.execute(update(LoginSession).where(LoginSession.id == record.id).values(last_seen_at=now))
        db.session.commit()
    user.login_session_id = record.id
    return user


def revoke(session_id: str | None) -> None:
    """End one login session (logout)."""
    if session_id:
        db.session.execute(update(LoginSession).where(LoginSession.id == session_id,
                                                      LoginSession.revoked_at.is_(None)).values(revoked_at=session_now()))
        db.session.commit()


def revoke_all(user_id: int) -> int:
    """End every session of a user; return how many were live."""
    done = db.session.execute(update(LoginSession).where(LoginSession.user_id == user_id,
                                                         LoginSession.revoked_at.is_(None))
                              .values(revoked_at=session_now())).rowcount
    db.session.commit()
    return done


def change_password(user: User, new_hash: str) -> None:
    """Give a user a new password hash and end all their sessions."""
    user.password_hash = new_hash
    db.session.commit()
    revoke_all(user.id)


def deactivate(user: User) -> None:
    """Deactivate an account and end all its sessions."""
    user.active = False
    db.session.commit()
    revoke_all(user.id)

"""The generic notification operator used by most service tasks of the process."""


def notifier(ctx, data, modele, destinataires):
    """Queue one message of kind `modele` to a recipient role or a list of them (« declarant », « ars »...):
    the mail layer finds their addresses (mail/notifications.resolve); anything but a role is refused."""
    roles = [destinataires] if isinstance(destinataires, str) else destinataires
    if not isinstance(roles, (list, tuple)):
        roles = [roles]  # refused by the mail layer as an unknown recipient, in French
    # A tuple would be read as (role, region) by ctx.notify: the process names roles, never regions or addresses.
    return ctx.notify(modele, [role if isinstance(role, str) else repr(role) for role in roles])

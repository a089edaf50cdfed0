"""The generic notification operator used by most service tasks of the process."""


def notifier(ctx, data, modele, destinataires):
    """Queue one message of kind `modele` to the roles in `destinataires`."""
    return ctx.notify(modele, list(destinataires))

"""Working-hours check for the off-hours escalation of phase 1."""
from timekeeping import business_calendar


def heures_ouvrees(ctx, data, finess):
    """Tell whether the Cellule ACSS is closed now for this structure, and why (in French)."""
    instant = ctx.now
    return {
        "hors_heures": business_calendar.is_off_hours(instant, finess),
        "motif": business_calendar.describe(instant, finess),
        "instant": instant.isoformat(),
    }

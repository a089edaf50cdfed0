"""Working-hours check for the off-hours escalation of phase 1."""
from timekeeping import business_calendar


def heures_ouvrees(ctx, data, finess):
    """Tell whether the Cellule ACSS is closed now for this structure, why (in French), and when it opens."""
    instant = ctx.now
    opening = business_calendar.next_opening(instant, finess)
    return {
        "hors_heures": business_calendar.is_off_hours(instant, finess),
        "motif": business_calendar.describe(instant, finess),
        "instant": instant.isoformat(),
        # When the Cellule ACSS takes the dossier over, as the acknowledgement tells the declarant.
        "reprise": opening.isoformat(),
        "reprise_texte": business_calendar.french_moment(opening),
    }

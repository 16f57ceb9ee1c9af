"""``{% load taskgate %}{% taskgate_progress job_id %}``: a live bar for one job.

The view starts the job (``taskgate.start``) and passes its id to the template; the tag
renders the ``<taskgate-progress>`` element (``taskgate/progress-element.js``, built on the
JS client): percent, message, state, time left and rate ("about 40 s left · 3,200 rows/s"),
"no progress for 45 s" while the job is stalled, then the result or the error, and a
download link when the job's result names a file. It reconnects and resumes like the page,
and only the job's owner (or staff) may watch it.
"""

from __future__ import annotations

from django import template
from django.templatetags.static import static
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from taskgate.config import get_config

register = template.Library()


@register.simple_tag
def taskgate_progress(job_id: object) -> SafeString:
    try:
        api_base = reverse("taskgate:index")
    except NoReverseMatch:  # taskgate.urls not mounted: the element has no download links
        api_base = "/"
    return format_html(
        '<script type="module" src="{}"></script>'
        '<taskgate-progress job-id="{}" api-base="{}" socket-path="{}"></taskgate-progress>',
        static("taskgate/progress-element.js"),
        str(job_id),
        api_base,
        get_config().socket_path,
    )

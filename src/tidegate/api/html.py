"""Headers for the HTML pages (``/docs``, later ``/ui`` and the approval pages), security.md §10."""

from __future__ import annotations

from starlette.responses import HTMLResponse

__all__ = ["DOCS_CSP", "UI_CSP", "html_response"]

#: Swagger UI needs inline styles (React style attributes) and ``data:`` images (icons in its CSS);
#: its start-up code is a served script, so no inline script runs and nothing loads from another host.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

#: The dashboard (``/ui``) is our own code: its script, stylesheet and icon are served files, so nothing
#: inline runs or applies, and it talks to this origin only (``fetch`` of the API and the stream).
UI_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def html_response(content: str, csp: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        content,
        status_code=status,
        headers={
            "Content-Security-Policy": csp,
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
        },
    )

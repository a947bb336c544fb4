"""Web pages: the persons list and one person's summary with a timeline of their streams.

Charts use plotly.js as shipped inside the installed ``plotly`` Python package, served by the app
at ``/static/vendor/plotly.min.js`` (no CDN; the file is never copied into the repository).
"""

from hyperhealth.delivery.web._pages import install_web, plotly_js_path

__all__ = ["install_web", "plotly_js_path"]

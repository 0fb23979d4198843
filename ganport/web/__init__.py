"""``ganport web``: a static page that runs an exported generator in the browser.

The builder is Python on the runtime side (ONNX Runtime reads the models' metadata; no
torch); the page itself is the static files in ``static/``, run by onnxruntime-web.
"""

from ganport.web.site import SiteReport, build_site

__all__ = ["SiteReport", "build_site"]

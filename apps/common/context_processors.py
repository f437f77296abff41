def csp_nonce(request):
    """`csp_nonce` for templates, the name django-leaflet's map template reads. django-csp's nonce is lazy:
    it is made, and added to the header, only when a template renders it."""
    return {"csp_nonce": getattr(request, "csp_nonce", "")}

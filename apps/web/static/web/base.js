/* Site-wide behaviour, no inline handlers (so a strict Content-Security-Policy holds). */
document.querySelectorAll("form.lang select").forEach((s) => s.addEventListener("change", () => s.form.submit()));

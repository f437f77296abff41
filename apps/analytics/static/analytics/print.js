/* The printable indicators page: a print button (no inline handlers, for the Content-Security-Policy). */
document.getElementById("print-button")?.addEventListener("click", () => window.print());

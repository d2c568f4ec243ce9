// Site-wide behaviour. Loaded as a file so the content security policy can forbid inline scripts.

// Letters without accents, in lower case: "Café" is found by "cafe".
const searchable = (text) => text.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase();

// A select marked js-searchable (the payment form's merchants) gets a search box above it:
// typing filters the options by every word typed and picks the first match. The select stays
// the form's field, so the form works the same without this script and for the keyboard.
function addSearchBox(select) {
  const data = select.dataset;
  const search = document.createElement("input");
  search.type = "search";
  search.id = `${select.id}-search`;
  search.className = "form-control mb-2";
  search.placeholder = data.searchPlaceholder || "";
  search.autocomplete = "off";
  search.setAttribute("aria-label", data.searchLabel || "");
  search.setAttribute("aria-controls", select.id);
  search.dataset.testid = "merchant-search";
  const status = document.createElement("div");
  status.className = "form-text mb-1";
  status.setAttribute("aria-live", "polite");
  status.dataset.testid = "merchant-search-status";
  select.before(search);
  select.after(status);

  const options = Array.from(select.options).filter((option) => option.value !== "");
  const texts = new Map(options.map((option) => [option, searchable(option.text)]));
  search.addEventListener("input", () => {
    const words = searchable(search.value).split(/\s+/).filter(Boolean);
    const matches = options.filter((option) => words.every((word) => texts.get(option).includes(word)));
    options.forEach((option) => {
      option.hidden = !matches.includes(option);
    });
    if (!words.length) {
      status.textContent = "";
      return;
    }
    select.value = matches.length ? matches[0].value : "";
    status.textContent = matches.length
      ? (data.searchCount || "").replace("{count}", matches.length)
      : data.searchNone || "";
  });
  // Enter in the search box chooses, it does not send the payment half filled in.
  search.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      select.focus();
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  // Selects marked js-autosubmit (the language switcher) submit their form on change.
  document.querySelectorAll("select.js-autosubmit").forEach((select) => {
    select.addEventListener("change", () => select.form.submit());
  });
  document.querySelectorAll("select.js-searchable").forEach(addSearchBox);
});

// plotters measures text by giving a temporary <span> a `style` attribute through setAttribute,
// which the page's Content-Security-Policy (style-src 'self', no inline styles) refuses: the
// measurement came out wrong and every chart label logged a violation. The same declarations
// set through the CSSOM are allowed, so style attributes set from script take that path.
const setAttribute = Element.prototype.setAttribute;
Element.prototype.setAttribute = function (name, value) {
  if (String(name).toLowerCase() === 'style' && this instanceof HTMLElement) {
    this.style.cssText = String(value);
    return;
  }
  setAttribute.call(this, name, value);
};

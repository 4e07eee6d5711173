// Stylesheets the feed's first view does not need, added to the page when a module that
// needs them is first loaded. A <link> to our own origin is what the page's CSP allows.

const loading = new Map();

/**
 * Adds the stylesheet once; resolves when it has loaded, failed, or taken more than two
 * seconds: a page shown a little plain beats a page not shown.
 */
export function loadStyles(href) {
  if (!loading.has(href)) {
    loading.set(href, new Promise((resolve) => {
      const link = document.createElement('link');
      link.rel = 'stylesheet';
      link.href = href;
      link.addEventListener('load', resolve, { once: true });
      link.addEventListener('error', resolve, { once: true });
      setTimeout(resolve, 2000);
      document.head.append(link);
    }));
  }
  return loading.get(href);
}

/** The styles of every page but the feed. */
export const pageStyles = () => loadStyles('/ui/pages.css');

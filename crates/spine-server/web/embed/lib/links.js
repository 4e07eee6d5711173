// Where things link to. The Activity Center's own paths are built here, and so are the links
// <spine-feed> makes into the embedding app from an `entity-href` template. Pure.

const enc = encodeURIComponent;

/** The Activity Center's page for an entity. */
export function entityPath(entity) {
  return `/entities/${enc(entity.type)}/${enc(entity.id)}`;
}

/** The Activity Center's page for one event. */
export function eventPath(id) {
  return `/events/${enc(id)}`;
}

/** The feed filtered on one value, e.g. filterPath('actor', 'u1') -> "/?actor=u1". */
export function filterPath(key, value) {
  return `/?${new URLSearchParams({ [key]: value })}`;
}

/**
 * An href builder from a template like "/tasks/{id}" or "https://app/{type}s/{id}": the
 * values are URL-encoded and only http(s) links come out, so an event cannot smuggle a
 * `javascript:` URL into the page. null when there is no template.
 */
export function templateLink(template, base) {
  if (!template) return null;
  return (entity) => {
    const href = template
      .replaceAll('{id}', enc(entity.id ?? ''))
      .replaceAll('{type}', enc(entity.type ?? ''));
    try {
      const url = new URL(href, base);
      return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
    } catch {
      return null;
    }
  };
}

// How <spine-feed>'s attributes become API parameters and links into the embedding app.
// Pure, so Node can test it without a DOM.

import { toInstant } from './query.js';

/**
 * The API parameters for the `filter` attribute. Paging and position belong to the
 * element, so they are taken out; dates become instants; archived items stay hidden unless
 * asked for. Anything else goes to the server as written (the API has filters the Activity
 * Center's form does not offer), and the server explains what it does not accept.
 */
export function embedParams(filter) {
  const params = new URLSearchParams(filter ?? '');
  for (const key of ['cursor', 'limit', 'order', 'after', 'token']) params.delete(key);
  for (const key of ['since', 'until']) {
    if (params.has(key)) params.set(key, toInstant(params.get(key), key === 'until'));
  }
  if (!params.has('archived')) params.set('archived', 'false');
  return params;
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
      .replaceAll('{id}', encodeURIComponent(entity.id ?? ''))
      .replaceAll('{type}', encodeURIComponent(entity.type ?? ''));
    try {
      const url = new URL(href, base);
      return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
    } catch {
      return null;
    }
  };
}

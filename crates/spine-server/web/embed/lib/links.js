// The Activity Center's own paths. Pure.

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

/**
 * A URL path with each interpolated value encoded into its segment (a `/`, `?` or `#` in a
 * name stays inside it): urlPath`/v1/admin/devices/${id}`. The CLI, the simulator and the
 * dashboard build admin API paths with it. A value of exactly `..` is not escaped by this
 * encoding; the identifier rules (common/validation.ts) admit no such name.
 */
export function urlPath(strings: TemplateStringsArray, ...values: Array<string | number>): string {
  return strings.reduce((out, s, i) => out + s + (i < values.length ? encodeURIComponent(String(values[i])) : ''), '');
}

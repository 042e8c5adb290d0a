package dev.ambientj.waypoint.route;

/**
 * One header (or query parameter) condition.
 *
 * @param name lower-case header name
 * @param matcher the value condition
 * @param invert true for VirtualService {@code withoutHeaders}: the request must NOT match
 */
public record HeaderMatch(String name, StringMatcher matcher, boolean invert) {
  boolean test(String value) {
    boolean m = matcher.matches(value);
    return invert != m;
  }
}

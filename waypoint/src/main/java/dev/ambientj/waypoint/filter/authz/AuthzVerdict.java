package dev.ambientj.waypoint.filter.authz;

/**
 * The result of L7 authorization.
 *
 * @param policy the policy that decided ({@code ns/name}), or null when allowed by default
 * @param reason for the access log, e.g. {@code denied by production/deny-admin}
 */
public record AuthzVerdict(boolean allowed, String policy, String reason) {
  public static final AuthzVerdict ALLOW_NO_POLICY = new AuthzVerdict(true, null, "no policy");
}

package dev.ambientj.config.authz;

/**
 * Where a policy is enforced, which decides what happens to attributes the point cannot see.
 *
 * <p>At {@link #ZTUNNEL} only L4 attributes exist. Istio documents the result for a policy that
 * uses L7 attributes but is enforced by ztunnel (istio.io, "Use Layer 4 security policy" →
 * "Layer 7 authorization policies without waypoints installed"; ambientmesh.io "Use a waypoint proxy
 * for L7 authorization policy": "it will fail safe by becoming a DENY policy"): istiod translates
 * such a rule so that, in an ALLOW policy, the rule is dropped (it never matches, so the traffic the
 * rule meant to allow is denied), and, in a DENY policy, only the L7 constraints are dropped (the
 * rule matches on its L4 part alone, so it denies more than written, never less). Both fail
 * closed.
 */
public enum EnforcementPoint {
  /** L4 only: {@code targetRefs} policies are not enforced here (they belong to a waypoint). */
  ZTUNNEL,
  /** L4 and L7: the caller passes only the policies attached to the waypoint or its services. */
  WAYPOINT
}

package dev.ambientj.config.authz;

import java.util.List;

/**
 * The outcome of {@link WorkloadAuthorizer#check}.
 *
 * @param allowed whether the connection or request may proceed
 * @param policy {@code namespace/name} of the deciding policy: the matching DENY, the matching
 *     ALLOW; null when no policy applied (allowed) or when ALLOW policies exist and none matched
 *     (denied)
 * @param action the deciding policy's action ({@code ALLOW}, {@code DENY}), or null
 * @param audits {@code namespace/name} of every AUDIT policy that matched (they never decide)
 */
public record AuthzVerdict(boolean allowed, String policy, String action, List<String> audits) {

  /** No policy applies to the target. */
  public static final AuthzVerdict NO_POLICY = new AuthzVerdict(true, null, null, List.of());

  public AuthzVerdict {
    audits = List.copyOf(audits);
  }

  /** An operator-facing reason for the access log. */
  public String reason() {
    if (allowed) {
      return policy == null ? "allowed: no ALLOW policy applies" : "allowed by " + policy;
    }
    return policy == null ? "denied: no ALLOW policy matched" : "denied by " + policy;
  }
}

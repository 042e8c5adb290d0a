package dev.ambientj.config.authz;

import java.util.ArrayList;
import java.util.List;

/**
 * The policies that apply to one workload, from {@link AuthorizationEngine#forWorkload}. Immutable;
 * {@link #check} runs per connection (ztunnel) or request (waypoint).
 */
public final class WorkloadAuthorizer {
  private final List<AuthorizationEngine.Compiled> deny;
  private final List<AuthorizationEngine.Compiled> allow;
  private final List<AuthorizationEngine.Compiled> audit;

  WorkloadAuthorizer(List<AuthorizationEngine.Compiled> deny,
      List<AuthorizationEngine.Compiled> allow, List<AuthorizationEngine.Compiled> audit) {
    this.deny = deny;
    this.allow = allow;
    this.audit = audit;
  }

  /** Whether no policy applies (every connection is allowed). */
  public boolean isEmpty() {
    return deny.isEmpty() && allow.isEmpty() && audit.isEmpty();
  }

  /** DENY first; then no ALLOW policy → allowed; else some ALLOW must match. */
  public AuthzVerdict check(AuthzRequest r) {
    List<String> audits = List.of();
    if (!audit.isEmpty()) {
      List<String> hit = new ArrayList<>();
      for (AuthorizationEngine.Compiled c : audit) {
        if (c.matches(r)) {
          hit.add(c.ref());
        }
      }
      audits = hit;
    }
    for (AuthorizationEngine.Compiled c : deny) {
      if (c.matches(r)) {
        return new AuthzVerdict(false, c.ref(), "DENY", audits);
      }
    }
    if (allow.isEmpty()) {
      return audits.isEmpty() ? AuthzVerdict.NO_POLICY : new AuthzVerdict(true, null, null, audits);
    }
    for (AuthorizationEngine.Compiled c : allow) {
      if (c.matches(r)) {
        return new AuthzVerdict(true, c.ref(), "ALLOW", audits);
      }
    }
    return new AuthzVerdict(false, null, null, audits);
  }
}

package dev.ambientj.config.authz;

/** A resolved PeerAuthentication mode (never UNSET: that inherits). */
public enum MtlsMode {
  /** Only mTLS (HBONE) is accepted: plaintext to 15006 is refused. */
  STRICT,
  /** mTLS and plaintext are both accepted (Istio's default when nothing is set). */
  PERMISSIVE,
  /**
   * Plaintext allowed. In ambient, ztunnel ignores DISABLE for HBONE (traffic between ambient pods
   * is always mTLS) and accepts plaintext, i.e. it behaves as PERMISSIVE (istio.io, "Use Layer 4
   * security policy" → peer authentication; Red Hat OSSM 3 "About Layer 7 features in ambient
   * mode": "policies that set the mode to DISABLE are ignored because ztunnel and HBONE always
   * enforce mTLS").
   */
  DISABLE
}

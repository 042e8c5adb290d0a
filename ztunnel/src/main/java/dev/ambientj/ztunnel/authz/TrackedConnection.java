package dev.ambientj.ztunnel.authz;

import dev.ambientj.config.authz.AuthzRequest;
import io.netty.channel.Channel;

/**
 * A live inbound connection as policy sees it: the local workload, the RBAC tuple it was
 * authorized with, and its two channels. {@link #closeForPolicy} marks it (any thread) and closes
 * both channels on the downstream's event loop; the relay's completion callback then reports the
 * reason (see {@link #policyCloseReason()}).
 *
 * @param plaintext arrived on 15006 (no identity; PeerAuthentication applies)
 */
public final class TrackedConnection {
  public static final String POLICY_CHANGE = "connection closed due to policy change";

  private final String localUid;
  private final AuthzRequest request;
  private final boolean plaintext;
  private final Channel downstream;
  private final Channel upstream;
  private volatile String closeReason;
  private volatile String closePolicy;

  public TrackedConnection(String localUid, AuthzRequest request, boolean plaintext,
      Channel downstream, Channel upstream) {
    this.localUid = localUid;
    this.request = request;
    this.plaintext = plaintext;
    this.downstream = downstream;
    this.upstream = upstream;
  }

  public String localUid() {
    return localUid;
  }

  public AuthzRequest request() {
    return request;
  }

  public boolean plaintext() {
    return plaintext;
  }

  /** Marks the connection as denied by policy and closes both sides (idempotent). */
  public void closeForPolicy(String reason, String policy) {
    if (closeReason != null) {
      return;
    }
    closePolicy = policy;
    closeReason = reason;
    downstream.eventLoop().execute(() -> {
      downstream.close();
      upstream.close();
    });
  }

  /** Why policy closed this connection, or null if it did not. */
  public String policyCloseReason() {
    return closeReason;
  }

  public String policyClosePolicy() {
    return closePolicy;
  }
}

package dev.ambientj.config.model;

import java.net.InetAddress;
import java.util.List;
import java.util.Objects;

/**
 * A Kubernetes Node.
 *
 * @param addresses the {@code InternalIP} entries of {@code status.addresses}; ztunnel binds its
 *     admin and metrics ports there in host mode
 */
public record Node(String name, List<InetAddress> addresses) {
  public Node {
    Objects.requireNonNull(name, "name");
    addresses = List.copyOf(addresses);
  }
}

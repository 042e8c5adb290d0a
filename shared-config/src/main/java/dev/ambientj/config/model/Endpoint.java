package dev.ambientj.config.model;

import java.util.Map;
import java.util.Objects;

/**
 * A workload behind a Service.
 *
 * @param workloadUid the {@link Workload#uid()}
 * @param targetPorts service port → container port, for the service ports whose named target port
 *     this workload's containers resolve
 */
public record Endpoint(String workloadUid, Map<Integer, Integer> targetPorts) {
  public Endpoint {
    Objects.requireNonNull(workloadUid, "workloadUid");
    targetPorts = Map.copyOf(targetPorts);
  }

  /**
   * The port to connect to on this endpoint: the resolved named port, else the numeric target, else
   * the port.
   */
  public int targetPortFor(ServicePort p) {
    Integer resolved = targetPorts.get(p.port());
    if (resolved != null) {
      return resolved;
    }
    return p.targetPort() != 0 ? p.targetPort() : p.port();
  }
}

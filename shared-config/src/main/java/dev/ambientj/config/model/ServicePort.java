package dev.ambientj.config.model;

/**
 * One port of a Service.
 *
 * @param name the port name; empty if unnamed
 * @param port the service port (1..65535)
 * @param targetPort the numeric target port; 0 when the Service names the target port (then each
 *     endpoint resolves it, see {@link Endpoint#targetPorts()})
 * @param appProtocol {@code appProtocol}, or null
 */
public record ServicePort(String name, int port, int targetPort, String appProtocol) {
  public ServicePort {
    name = name == null ? "" : name;
  }
}

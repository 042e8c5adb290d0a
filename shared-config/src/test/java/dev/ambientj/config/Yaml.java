package dev.ambientj.config;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.model.MeshSnapshot;

/** Test helper: YAML text to a snapshot, failing on malformed YAML. */
final class Yaml {
  private Yaml() {}

  static MeshSnapshot translate(String yaml) {
    MeshYaml.Result r = MeshYaml.load(yaml, "test.yaml");
    assertThat(r.errors()).isEmpty();
    return new MeshTranslator().translate(r.objects());
  }

  static String namespace(String name, String... labels) {
    return "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: "
        + name
        + "\n"
        + labels(labels, "  ")
        + "---\n";
  }

  static String labels(String[] kv, String indent) {
    if (kv.length == 0) {
      return "";
    }
    StringBuilder sb = new StringBuilder(indent + "labels:\n");
    for (int i = 0; i < kv.length; i += 2) {
      sb.append(indent).append("  ").append(kv[i]).append(": \"").append(kv[i + 1]).append("\"\n");
    }
    return sb.toString();
  }

  static String pod(String ns, String name, String ip, String... labels) {
    return """
    apiVersion: v1
    kind: Pod
    metadata:
      name: %s
      namespace: %s
    %s
    spec:
      nodeName: node-a
      serviceAccountName: sa-%s
      containers:
      - name: app
        image: app
        ports:
        - name: http
          containerPort: 8080
    status:
      phase: Running
      podIP: %s
    ---
    """
        .formatted(name, ns, labels(labels, "  "), name, ip);
  }

  static String service(String ns, String name, String vip, String selectorApp, String... labels) {
    return """
    apiVersion: v1
    kind: Service
    metadata:
      name: %s
      namespace: %s
    %s
    spec:
      clusterIP: %s
      selector:
        app: %s
      ports:
      - name: http
        port: 80
        targetPort: 8080
    ---
    """
        .formatted(name, ns, labels(labels, "  "), vip, selectorApp);
  }

  static String waypoint(String ns, String name, String waypointFor) {
    return """
    apiVersion: gateway.networking.k8s.io/v1
    kind: Gateway
    metadata:
      name: %s
      namespace: %s
    %s
    spec:
      gatewayClassName: istio-waypoint
      listeners:
      - name: mesh
        port: 15008
        protocol: HBONE
    ---
    """
        .formatted(
            name,
            ns,
            waypointFor == null
                ? ""
                : labels(new String[] {"istio.io/waypoint-for", waypointFor}, "  "));
  }
}

package dev.ambientj.cni.agent;

/**
 * Reports a pod's capture state where users look for it: the pod annotation {@value #ANNOTATION}
 * (ISTIO-FACTS §5) — {@code enabled} once the rules are in and ztunnel acked, removed on unenroll.
 * Called with the pod's enrollment lock held, on CNI and reconcile threads: implementations must
 * not block (queue the API call).
 */
public interface RedirectionAnnotator {
  String ANNOTATION = "ambient.istio.io/redirection";
  String ENABLED = "enabled";

  /** The pod is captured and served by ztunnel. */
  void enabled(String namespace, String name);

  /** The pod is no longer captured. */
  void removed(String namespace, String name);

  /** No Kubernetes API (file config, tests): nothing to write. */
  RedirectionAnnotator NONE = new RedirectionAnnotator() {
    @Override
    public void enabled(String namespace, String name) {}

    @Override
    public void removed(String namespace, String name) {}
  };
}

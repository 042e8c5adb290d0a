package dev.ambientj.config.ca;

import dev.ambientj.config.MeshTranslator;
import dev.ambientj.config.MeshYaml;
import dev.ambientj.config.model.MeshSnapshot;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.cert.CertPathValidator;
import java.security.cert.CertificateFactory;
import java.security.cert.PKIXCertPathValidatorResult;
import java.security.cert.PKIXParameters;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.bouncycastle.asn1.pkcs.CertificationRequest;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.ExtensionsGenerator;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;

/** CSRs, keys, the example mesh and PKIX checks for the CA tests. */
final class TestPki {
  private TestPki() {}

  static final String API_GATEWAY = "spiffe://cluster.local/ns/production/sa/api-gateway";
  static final String ORDERS = "spiffe://cluster.local/ns/production/sa/orders";

  /** examples/mesh.yaml translated (api-gateway-0 on node-a, orders-0 on node-b). */
  static MeshSnapshot exampleMesh() throws Exception {
    MeshYaml.Result r = MeshYaml.load(examples().resolve("mesh.yaml"));
    return new MeshTranslator().translate(r.objects());
  }

  static Path examples() {
    Path dir = Path.of("").toAbsolutePath();
    while (dir != null) {
      if (Files.isDirectory(dir.resolve("examples")) && Files.exists(dir.resolve("pom.xml"))) {
        return dir.resolve("examples");
      }
      dir = dir.getParent();
    }
    throw new IllegalStateException("no examples/ folder above " + Path.of("").toAbsolutePath());
  }

  static KeyPair ec(String curve) throws Exception {
    KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
    g.initialize(new ECGenParameterSpec(curve));
    return g.generateKeyPair();
  }

  static KeyPair rsa(int bits) throws Exception {
    KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
    g.initialize(bits);
    return g.generateKeyPair();
  }

  static PKCS10CertificationRequest csr(KeyPair kp, GeneralName... sans) throws Exception {
    var b = new JcaPKCS10CertificationRequestBuilder(new X500Name("CN=ignored"), kp.getPublic());
    if (sans.length > 0) {
      ExtensionsGenerator ext = new ExtensionsGenerator();
      ext.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(sans));
      b.addAttribute(PKCSObjectIdentifiers.pkcs_9_at_extensionRequest, ext.generate());
    }
    String alg = kp.getPrivate().getAlgorithm().equals("RSA") ? "SHA256withRSA" : "SHA256withECDSA";
    return b.build(new JcaContentSignerBuilder(alg).build(kp.getPrivate()));
  }

  static String csrPem(KeyPair kp, GeneralName... sans) throws Exception {
    return CaPem.write(csr(kp, sans));
  }

  static GeneralName uri(String u) {
    return new GeneralName(GeneralName.uniformResourceIdentifier, u);
  }

  /** A CSR for {@code identity} whose signature was made by another key than the one it holds. */
  static String forgedCsrPem(String identity) throws Exception {
    PKCS10CertificationRequest a = csr(ec("secp256r1"), uri(identity));
    PKCS10CertificationRequest b = csr(ec("secp256r1"), uri(identity));
    CertificationRequest mixed =
        new CertificationRequest(
            a.toASN1Structure().getCertificationRequestInfo(),
            a.getSignatureAlgorithm(),
            b.toASN1Structure().getSignature());
    return CaPem.write(new PKCS10CertificationRequest(mixed));
  }

  /**
   * Validates {@code chain} (leaf first; the root at the end is ignored and must come from the
   * bundle) with the JDK's PKIX validator.
   *
   * @return the trust anchor it chained to
   */
  static X509Certificate verify(List<X509Certificate> chain, List<X509Certificate> bundle)
      throws Exception {
    Set<TrustAnchor> anchors = new HashSet<>();
    for (X509Certificate r : bundle) {
      anchors.add(new TrustAnchor(r, null));
    }
    PKIXParameters p = new PKIXParameters(anchors);
    p.setRevocationEnabled(false);
    var path = CertificateFactory.getInstance("X.509").generateCertPath(chain.subList(0, chain.size() - 1));
    var result = (PKIXCertPathValidatorResult) CertPathValidator.getInstance("PKIX").validate(path, p);
    return result.getTrustAnchor().getTrustedCert();
  }

  static List<X509Certificate> parse(List<String> pems) {
    return pems.stream().map(s -> CaPem.parseCertificates(s).get(0)).toList();
  }

  static List<String> uriSans(X509Certificate c) throws Exception {
    return c.getSubjectAlternativeNames().stream()
        .filter(l -> ((Integer) l.get(0)) == 6)
        .map(l -> (String) l.get(1))
        .toList();
  }
}

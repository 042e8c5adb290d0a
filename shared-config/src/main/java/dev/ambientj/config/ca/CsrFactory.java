package dev.ambientj.config.ca;

import java.io.IOException;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.spec.ECGenParameterSpec;
import java.util.Objects;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.x500.RDN;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.ExtensionsGenerator;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;

/**
 * Makes what a node proxy sends the CA for one identity: a fresh ECDSA P-256 key pair and a PEM
 * PKCS#10 request signed with it (SHA-256), with an empty subject and the SPIFFE id as the only
 * SAN, as ztunnel's {@code csr.rs} builds it.
 *
 * <p>Key generation and one signature: about a millisecond; call it off any event loop.
 */
public final class CsrFactory {
  private CsrFactory() {}

  /**
   * A key pair and its request.
   *
   * @param csrPem the {@code CERTIFICATE REQUEST} PEM block to send as {@code
   *     IstioCertificateRequest.csr}
   * @param privateKeyPem the private key as PKCS#8 PEM, to pair with the returned chain
   */
  public record Generated(String identity, KeyPair keyPair, String csrPem, String privateKeyPem) {}

  /**
   * @param spiffeId {@code spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>}
   * @throws IllegalArgumentException if {@code spiffeId} is not of that form
   */
  public static Generated create(String spiffeId) {
    Objects.requireNonNull(spiffeId, "spiffeId");
    String id = SpiffeUri.parse(spiffeId).toString();
    try {
      KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
      g.initialize(new ECGenParameterSpec("secp256r1"));
      KeyPair kp = g.generateKeyPair();
      ExtensionsGenerator ext = new ExtensionsGenerator();
      ext.addExtension(
          Extension.subjectAlternativeName,
          true,
          new GeneralNames(new GeneralName(GeneralName.uniformResourceIdentifier, id)));
      var builder = new JcaPKCS10CertificationRequestBuilder(new X500Name(new RDN[0]), kp.getPublic());
      builder.addAttribute(PKCSObjectIdentifiers.pkcs_9_at_extensionRequest, ext.generate());
      var csr = builder.build(new JcaContentSignerBuilder("SHA256withECDSA").build(kp.getPrivate()));
      return new Generated(id, kp, CaPem.write(csr), CaPem.privateKey(kp.getPrivate()));
    } catch (GeneralSecurityException | OperatorCreationException | IOException e) {
      throw new IllegalStateException("cannot create a CSR for " + spiffeId, e);
    }
  }
}

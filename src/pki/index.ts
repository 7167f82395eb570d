// The PKI: a directory-backed CA (init, issue, revoke, CRLs, profiles) and
// the checks every TLS end runs on its peer.
export { CertError, PkiError, type CertErrorCode, type PkiErrorCode } from './errors.js';
export { ROLES, encodeIdentityUri, parseIdentityUri, type Identity, type Role } from './identity.js';
export { trustFromPem, loadTrust, CRL_REASONS, type Trust, type CrlReason } from './trust.js';
export { verifyPeer, verifyCertificateChain } from './verify.js';
export { initCa, type InitCaOptions, type InitCaResult } from './ca.js';
export { issueCert, type IssueOptions, type IssueResult } from './issue.js';
export { revoke, writeCrl, type RevokeOptions, type RevokeResult, type WriteCrlResult } from './crl.js';
export { listCerts, type CertRow, type CertStatus } from './list.js';
export { loadProfile, type IdentityPem } from './profile.js';
export { pkiPaths, type PkiPaths } from './store.js';
export { generateStaticKey, parseStaticKey, readStaticKey, writeStaticKey } from './static-key.js';

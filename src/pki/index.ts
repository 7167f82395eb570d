// The PKI: a directory-backed CA (init, issue, revoke, CRLs, profiles) and
// the checks every TLS end runs on its peer.
export { CertError, PkiError, type CertErrorCode, type PkiErrorCode } from './errors.js';
export { ROLES, encodeIdentityUri, parseIdentityUri, type Identity, type Role } from './identity.js';
export { trustFromPem, loadTrust, CRL_REASONS, type Trust, type CrlReason } from './trust.js';
export { verifyPeer, verifyCertificateChain } from './verify.js';
export { initCa, loadRootSigner, liveRootSigners, type InitCaOptions, type InitCaResult, type RootSigner } from './ca.js';
export { createCsr, readCsr, signFromCsr, MAX_CSR_TEXT, type ReadCsr } from './csr.js';
export { rolloverCa, retireCa, listRoots, type RolloverOptions, type RolloverResult, type RetireOptions, type RetireResult } from './rollover.js';
export { issueCert, type IssueOptions, type IssueResult } from './issue.js';
export { revoke, writeCrl, rootCrlsPem, type RevokeOptions, type RevokeResult, type WriteCrlResult, type RootRevocation } from './crl.js';
export { listCerts, type CertRow, type CertStatus } from './list.js';
export { loadProfile, type IdentityPem } from './profile.js';
export { pkiPaths, type PkiPaths, type RootRecord } from './store.js';
export { generateStaticKey, parseStaticKey, readStaticKey, writeStaticKey } from './static-key.js';

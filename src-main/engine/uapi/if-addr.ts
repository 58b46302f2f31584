/** uapi: linux/if_addr.h. struct ifaddrmsg, its IFA_* attributes and the IFA_F_* address flags. */

/** sizeof(struct ifaddrmsg { u8 family; u8 prefixlen; u8 flags; u8 scope; u32 index; }). */
export const IFADDRMSG_LEN = 8;

/** enum { IFA_* } */
export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
export const IFA_FLAGS = 8;

/** IFA_F_*: addresses that cannot be a source yet, or any more. */
export const IFA_F_DADFAILED = 0x08;
export const IFA_F_DEPRECATED = 0x20;
export const IFA_F_TENTATIVE = 0x40;

import { createContext, useContext } from 'react';
import type { TMe } from '../trpc/router-types';

export const CurrentUserContext = createContext<TMe | null>(null);

/** Who is signed in (`me.get`); only rendered below the signed-in shell, which loads it first. */
export function useCurrentUser(): TMe & { canEdit: boolean; canViewAudit: boolean } {
  const me = useContext(CurrentUserContext);
  if (!me) throw new Error('useCurrentUser needs a signed-in user');
  const canEdit = me.permissions.includes('settings.edit');
  return { ...me, canEdit, canViewAudit: canEdit || me.permissions.includes('settings.view') };
}

/*
 * Realistic shared-folder paths for the search benchmark and the recall test: Korean,
 * Japanese, Chinese and English words run together the way people name files
 * (`2024_연말보고서_최종.hwp`, `北海道旅行_写真(2).jpg`), with dates, versions, full-width
 * characters and decomposed Hangul (macOS) mixed in. Deterministic for a seed.
 */

export const KOREAN_WORDS = [
  '연말', '보고서', '최종', '회의록', '예산안', '제안서', '계약서', '견적서', '사진', '여행', '가족', '졸업식', '결혼식', '수정본',
  '발표자료', '기획안', '학습지', '강의노트', '논문', '초안', '정산', '세금계산서', '영수증', '이력서', '자기소개서', '포트폴리오',
  '설계도', '매뉴얼', '회계', '분기별', '실적', '마케팅', '전략', '신제품', '출장', '부산', '제주도', '서울', '캠핑', '생일',
  '아이들', '동영상', '음악', '녹음', '강연', '교육', '자료', '백업', '스캔본', '원본',
];
export const JAPANESE_WORDS = [
  '議事録', '見積書', '請求書', '写真', '旅行', '資料', '最終版', '企画書', 'カタログ', 'プレゼン', 'まとめ', '北海道', '東京',
  'スケジュール', '報告書', '会議', '卒業式', '家族', '動画', '音楽', '契約書', '納品書', 'マニュアル', '設計書', 'バックアップ',
];
export const CHINESE_WORDS = [
  '年度报告', '会议纪要', '合同', '发票', '照片', '旅游', '最终版', '项目计划', '财务报表', '简历', '北京', '上海', '视频',
  '音乐', '毕业典礼', '家庭', '培训', '资料', '预算', '方案',
];
export const ENGLISH_WORDS = [
  'report', 'final', 'draft', 'budget', 'invoice', 'meeting', 'notes', 'photo', 'vacation', 'family', 'holiday', 'project',
  'proposal', 'contract', 'summary', 'presentation', 'backup', 'scan', 'music', 'video', 'lecture', 'thesis', 'resume',
  'design', 'manual', 'quarterly', 'sales', 'marketing', 'strategy', 'camping', 'birthday', 'wedding', 'graduation', 'trip',
  'screenshot', 'recording', 'podcast', 'dataset', 'analysis', 'release',
];
export const EXTENSIONS: readonly { ext: string; type: string }[] = [
  { ext: 'pdf', type: 'application/pdf' },
  { ext: 'hwp', type: 'application/x-hwp' },
  { ext: 'docx', type: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document' },
  { ext: 'xlsx', type: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet' },
  { ext: 'pptx', type: 'application/vnd.openxmlformats-officedocument.presentationml.presentation' },
  { ext: 'jpg', type: 'image/jpeg' },
  { ext: 'png', type: 'image/png' },
  { ext: 'mp4', type: 'video/mp4' },
  { ext: 'mp3', type: 'audio/mpeg' },
  { ext: 'zip', type: 'application/zip' },
  { ext: 'txt', type: 'text/plain' },
  { ext: 'md', type: 'text/markdown' },
];

/** mulberry32: small, fast, deterministic. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface GeneratedFile {
  readonly path: string;
  readonly type: string;
  readonly size: number;
  readonly mtime: number;
}

/** Generates `count` distinct file paths (a folder or two, then a name) with sizes and mtimes. */
export function generateFiles(count: number, seed: number): GeneratedFile[] {
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const languages = [KOREAN_WORDS, KOREAN_WORDS, JAPANESE_WORDS, CHINESE_WORDS, ENGLISH_WORDS, ENGLISH_WORDS];
  const files: GeneratedFile[] = [];
  const seen = new Set<string>();
  let serial = 0;
  while (files.length < count) {
    const words = pick(languages);
    const other = pick(languages);
    const year = 2015 + Math.floor(random() * 11);
    const style = Math.floor(random() * 8);
    const a = pick(words);
    const b = pick(words);
    const c = pick(other);
    let stem: string;
    switch (style) {
      case 0: stem = `${year}_${a}${b}_${c}`; break; // 2024_연말보고서_최종
      case 1: stem = `${a}${b}${c}`; break; // no separators at all
      case 2: stem = `${a} ${b} (${1 + Math.floor(random() * 3)})`; break;
      case 3: stem = `${year}${String(1 + Math.floor(random() * 12)).padStart(2, '0')}${String(1 + Math.floor(random() * 28)).padStart(2, '0')}-${a}-${b}`; break;
      case 4: stem = `[${c}]${a}_v${1 + Math.floor(random() * 9)}`; break;
      case 5: stem = `${a}${b}`.normalize('NFD'); break; // macOS spells Hangul decomposed
      case 6: stem = `ＩＭＧ＿${1000 + Math.floor(random() * 9000)}_${a}`; break; // full-width from old phones
      default: stem = `${a}-${b}-${c}-${year}`; break;
    }
    const { ext, type } = pick(EXTENSIONS);
    const folderDepth = Math.floor(random() * 3);
    const folders: string[] = [];
    for (let i = 0; i < folderDepth; i++) folders.push(pick(pick(languages)));
    let path = `/${[...folders, `${stem}.${ext}`].join('/')}`;
    if (seen.has(path)) path = `/${[...folders, `${stem}_${++serial}.${ext}`].join('/')}`;
    seen.add(path);
    const size = Math.floor(random() * random() * 2 ** 32);
    const mtime = Date.UTC(year, Math.floor(random() * 12), 1 + Math.floor(random() * 28)) + Math.floor(random() * 86_400_000);
    files.push({ path, type, size, mtime });
  }
  return files;
}
